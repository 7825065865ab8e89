"""What a course deploys: the grader as a wheel, the CI workflow, the Gradescope autograder."""
