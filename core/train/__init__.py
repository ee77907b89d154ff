"""Fine-tuning: the run configuration, the trainer process, and the runs it leaves in the workspace."""
