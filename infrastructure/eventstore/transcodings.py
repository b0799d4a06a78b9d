"""JSON transcodings for the value objects our events and snapshots hold."""

from __future__ import annotations

import base64
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.orders.aggregates import OrderLine, OrderStatus
from domain.shared.money import Money


class BytesAsBase64(Transcoding):
    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class MoneyAsDict(Transcoding):
    type = Money
    name = "money"

    def encode(self, obj: Money) -> dict[str, Any]:
        return {"amount": obj.amount, "currency": obj.currency}

    def decode(self, data: dict[str, Any]) -> Money:
        return Money(data["amount"], data["currency"])


class OrderLineAsDict(Transcoding):
    type = OrderLine
    name = "order_line"

    def encode(self, obj: OrderLine) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> OrderLine:
        return OrderLine(**data)


class OrderStatusAsStr(Transcoding):
    type = OrderStatus
    name = "order_status"

    def encode(self, obj: OrderStatus) -> str:
        return obj.value

    def decode(self, data: str) -> OrderStatus:
        return OrderStatus(data)


def register_modiste_transcodings(transcoder: JSONTranscoder) -> None:
    """Register every value-object transcoding on ``transcoder``."""
    for transcoding in (BytesAsBase64(), MoneyAsDict(), OrderLineAsDict(), OrderStatusAsStr()):
        transcoder.register(transcoding)


class ModisteTranscoder(JSONTranscoder):
    """The library's JSON transcoder plus Modiste's value objects (named by TRANSCODER_TOPIC)."""

    def __init__(self) -> None:
        super().__init__()
        register_modiste_transcodings(self)
