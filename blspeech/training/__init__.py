"""The training loop and what keeps it safe: checkpoints, locks, schedules and metric logs."""
