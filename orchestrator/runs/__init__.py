"""One task end to end: load the project, run the agent in a session, write patch and summary."""
