"""The policy applied to a real request: opening a case, changing its type (through cases/ports.py, which
returnflow/bootstrap.py wires to assess) and the dry run. Above cases, orders, warehouse and the SLA settings, whose
rows it reads; the policy itself (its files, versions and engine) is policy/, below cases.
"""
