"""SLA policies, business-hours calendars, due times and breaches."""
