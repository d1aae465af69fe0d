"""Topic and sentiment models, the Analyzer, artifacts."""
