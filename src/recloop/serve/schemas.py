"""Request and response bodies of the HTTP API (they also make the OpenAPI spec)."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

EVENT_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


def _id_text(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # integer ids are served as their decimal string
    return v


# strict: JSON numbers only (ints welcome), never booleans or numeric strings; no NaN/inf.
# A core (Rust) check, not a Python validator: a request carries hundreds of these.
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
ItemId = Annotated[Union[StrictStr, StrictInt], BeforeValidator(_id_text),
                   Field(description="item id (string; integers are turned into strings)")]
EventId = Annotated[str, Field(pattern=EVENT_ID_PATTERN, description="1-128 characters of [A-Za-z0-9._:-]")]


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ItemId
    features: list[FiniteFloat] | None = Field(default=None, max_length=4096,
                                               description="item features (stored and logged)")


class RankRequest(BaseModel):
    """One decision: who is asking (``context``) and what may be shown (``candidates``)."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = Field(default=None, description="client id of the event; generated when absent. "
                                     "Re-sending the same request with the same id returns the stored decision.")
    context: list[FiniteFloat] | dict[str, FiniteFloat] | None = Field(
        default=None, description="user features: a vector, or named features (ordered by name)")
    candidates: list[Candidate] = Field(min_length=1, description="items to choose among; ids unique")
    k: int = Field(default=1, ge=1, le=1000, description="how many items to return (chosen first)")
    excluded: list[ItemId] = Field(default_factory=list, max_length=1000,
                                   description="candidate ids that must not be shown")


class RankedItem(BaseModel):
    id: str
    score: float
    probability: float = Field(description="probability that the policy would have chosen this item first")


class RankResponse(BaseModel):
    event_id: str
    ranking: list[RankedItem]
    chosen_id: str
    model_version: str


class RewardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: FiniteFloat
    item_id: ItemId | None = Field(default=None, description="must be the chosen item when given")


class ModelInfo(BaseModel):
    version: int
    name: str
    watermark: int = Field(description="rewards up to this sequence number are in the model")
    parent: int | None
    note: str
    sha256: str
    created: float
    active: bool


class ModelsResponse(BaseModel):
    active: int
    watermark: int
    models: list[ModelInfo]


class Problem(BaseModel):
    """Every error answer: a message that names the problem."""

    error: str
    detail: Any = None
