"""Shell: the dashboard, a Starlette app for people (sign-in with GitHub, environments, a shell)."""
