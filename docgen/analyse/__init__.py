"""Analyses over the model: pure functions from templates (and knowledge) to facts
that pages render. Nothing here formats text for a page."""
