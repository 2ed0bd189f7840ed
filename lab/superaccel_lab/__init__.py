"""The lab of superaccel: the paper's figures with their claims measured (``experiments``),
its test problems (``problems``), data loaders (``data``), the one training loop
(``training``), the paper's analysis in numpy (``analysis``), and the benchmarks
(``benchmarks``).  It uses the library (``superaccel``); the library never uses it."""
