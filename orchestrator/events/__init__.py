"""What happens in a run, as typed events: their models, the bus, the audit log, the renderer."""
