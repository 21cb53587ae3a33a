"""What `ltd-bench ls` lists: one line per registered name."""

from __future__ import annotations


def catalog() -> dict[str, list[tuple[str, str]]]:
    from .clipping import CLIPPING
    from .models import INITS, MODELS
    from .tasks import TASKS, preset
    from .train import OPTIMIZERS

    def task_line(name: str) -> str:
        p = preset(name)
        variants = ", ".join(p.get("variants", {}))
        return f"{p.get('description', '')} [variants: {variants}; default T={p.get('default_seq_len')}]"

    return {
        "tasks": [(n, task_line(n)) for n in TASKS.names()],
        "models": [(n, MODELS.help(n)) for n in MODELS.names()],
        "clipping": [(n, CLIPPING.help(n)) for n in CLIPPING.names()],
        "optimizers": [(n, OPTIMIZERS.help(n)) for n in OPTIMIZERS.names()],
        "inits": list(INITS.items()),
    }
