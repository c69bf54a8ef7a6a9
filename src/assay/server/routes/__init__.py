"""One router per resource; ``app.ROUTERS`` lists them."""
