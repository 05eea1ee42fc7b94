"""Marketplace after-sales sync (Taobao/Tmall refunds): pull the platform's requests into cases, push the desk's
decisions back once, flag what changed on both sides. Its producer (push.decisions), outbox handler (push.deliver)
and the worker's pull job (schedule.due_pulls) are declared in returnflow/bootstrap.py."""
