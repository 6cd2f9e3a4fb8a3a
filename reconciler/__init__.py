"""Process package: the reconciler, which makes Environment and Project CRs real on the cluster.

Runtime (`python -m reconciler`): a leader-elected watcher feeds Environment keys to the Celery
`reconcile` queue, and a Celery consumer in the same process reconciles them one key at a time:
read everything, plan one step with the pure planner, do it, write status.
"""
