"""What creates review requests: gates, routers, policy (tiers, sampling, the routing
log), the predictor, and the LangChain agent middleware."""
