"""Fails on purpose: an uncaught exception exits non-zero and the run is FAILED."""


def load(path):
    raise FileNotFoundError(f"input file {path} does not exist")


print("Starting a pipeline that will fail")
load("/data/input.csv")
print("never printed")
