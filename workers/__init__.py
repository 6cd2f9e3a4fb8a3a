"""Process `worker`: Celery tasks and the GitHub-facing flows (CRs, deployments, comments)."""
