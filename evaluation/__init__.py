"""Evaluation toolkit for volunteer programmes in Dutch probation.

Data flows one way: intake -> validate -> analysis datasets -> estimates -> report.
"""

__version__ = "0.1.0"
