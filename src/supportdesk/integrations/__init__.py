"""Look-ups in the outside systems a desk works beside, such as its CRM."""
