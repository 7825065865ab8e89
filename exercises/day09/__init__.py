"""Day 9 exercises: the Phase I foundations. Fill in the stubs, then run `quiz grade day9`."""
