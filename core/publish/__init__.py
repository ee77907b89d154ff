"""Publishing a run's model: a standalone folder or zip (`export`) with its model card (`model_card`). Above training
and evaluation in the stage order: a card reads the run, measures perplexity and gathers the ratings."""
