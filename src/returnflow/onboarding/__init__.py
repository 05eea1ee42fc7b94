"""Setting up a merchant: its country, time zone, business calendar and policy preset, checked before anything is
written (setup.py), over the API (api.py, platform users) and the CLI (`returnflow merchants ...`, cli.py).

It sits above the packages it writes to (merchants, sla settings, policy presets); merchants/ itself holds only the
merchant's record, its clock and language (merchants/clock.py) and the country tables (merchants/country.py).
"""
