"""Day 9 reference solutions: the Phase I foundations."""
