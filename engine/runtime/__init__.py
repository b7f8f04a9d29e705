"""The running engine's collaborators, built and wired by ``engine.kernel``.

Each owns one job and takes what it needs in its constructor; none holds the kernel. The
low-level ``Outbox`` (notices, refusals, audit appends, background tasks) is shared by all;
peers that react to the same happening (accounting and the risk monitor on a fill) hear it as
a bus event instead of calling each other.
"""
