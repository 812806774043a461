"""What a person means by free text or a photo sent at the menu (outside any question).

Nothing a person sends is dropped: what is not understood gets the menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import menu
from handlers.turn import Answer, Turn

if TYPE_CHECKING:
    from handlers.engine import Engine


async def understand(engine: Engine, turn: Turn, answer: Answer) -> None:
    await menu.show(turn)
