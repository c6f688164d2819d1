"""Method plug-ins: one file per method, each registering itself with ``@register_method``.

Every module in this package is imported by ``benchmark.registry.METHODS`` on first use, so
adding a method is adding a file here (see README, "Add a method").
"""
