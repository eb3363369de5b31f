"""Teams: roles, invites, several tenants per person, the activity log."""
