"""``make bench``: every benchmark, printing figures (never pass/fail: machines here are noisy)."""

from __future__ import annotations

from tests.bench import startup


def main() -> None:
    startup.main()


if __name__ == "__main__":
    main()
