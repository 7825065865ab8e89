"""Day 16 reference solutions: attention and transformers."""
