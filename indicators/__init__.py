"""Satisfaction (ISO 10004) and complaint-handling (ISO 10002) indicators over stored records."""
