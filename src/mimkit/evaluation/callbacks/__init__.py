"""Lightning callbacks run at the end of testing: the representation metrics and the pictures."""
