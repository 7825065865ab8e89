"""Day 16 exercises: attention and transformers."""
