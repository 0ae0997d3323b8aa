"""MEX (paper A's method): a score module over (representation, label) pairs trained beside the regression head,
and at inference a search over candidate labels. method.py is the method, search.py the Monte Carlo search,
cosine_table.py the tabulated cosine scores, inference.py the prediction call that puts them together."""
from extrapbench.methods.mex.method import MEX  # noqa: F401 (the registry imports this package to register MEX)
