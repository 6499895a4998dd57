"""The case's search attributes: what Temporal can filter cases by. Never personal data."""

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("GridloopStage")
CATEGORY = SearchAttributeKey.for_keyword("GridloopCategory")
GRID = SearchAttributeKey.for_keyword("GridloopGrid")
TOWN = SearchAttributeKey.for_keyword("GridloopTown")
URGENCY = SearchAttributeKey.for_keyword("GridloopUrgency")
LEAD_DEPARTMENT = SearchAttributeKey.for_keyword("GridloopLeadDepartment")
OVERDUE = SearchAttributeKey.for_bool("GridloopOverdue")

ALL_KEYS = (STAGE, CATEGORY, GRID, TOWN, URGENCY, LEAD_DEPARTMENT, OVERDUE)
