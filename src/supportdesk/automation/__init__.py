"""Time-based automations (escalation, auto-close, reminders), triggers and macros."""
