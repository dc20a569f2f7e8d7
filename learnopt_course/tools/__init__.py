"""Course tooling: student-notebook generation, output cleaning, notebook lint, execution and grading."""
