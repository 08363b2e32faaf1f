"""Protocol endpoints of this part (docs/monitoring.md); filled by its owner."""

from fastapi import APIRouter

router = APIRouter()
