"""The topic-rule runner: IoT SQL subset, in-process Lambda targets, retries, error path."""

from cloud.local.rules.sql import RuleQuery, RuleSqlError, parse

__all__ = ["RuleQuery", "RuleSqlError", "parse"]
