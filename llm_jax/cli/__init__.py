"""Command-line entry points: absl flags in, a library call, exit status out."""
