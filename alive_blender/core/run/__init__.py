"""Running the stages: the stage functions, the worker process and its line protocol, batches."""
