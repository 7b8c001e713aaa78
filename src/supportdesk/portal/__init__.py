"""The customer portal: a public request form per workspace, sign-in by e-mailed link, and a customer's
own tickets with their public conversation (decision 0055)."""
