"""Training: schedules, optimizer, loss, the pure train/eval step, and the loop."""
