# Linear regression on posted data: fits `formula` with lm(), returns the coefficient table and
# fit statistics as JSON, and draws R's four diagnostic plots into one PNG.
# Loaded once per R process; each call gets `params`, the request's JSON as R values.

regression <- function(params) {
  data <- as.data.frame(lapply(params$data, unlist), stringsAsFactors = TRUE)
  formula <- stats::as.formula(params$formula)
  missing <- setdiff(all.vars(formula), names(data))
  if (length(missing) > 0) stop("the formula uses columns not in data: ", paste(missing, collapse = ", "))
  update(list(progress = 10))

  fit <- stats::lm(formula, data = data)
  fit$call$formula <- formula # so that printed output shows the formula, not a variable name
  s <- summary(fit)
  print(s) # kept as the task's console output
  update(list(progress = 60))

  save.plot(function() {
    graphics::par(mfrow = c(2, 2))
    plot(fit)
  }, "diagnostics", type = "png")
  update(list(progress = 100))

  co <- s$coefficients
  f <- s$fstatistic
  list(
    formula = paste(deparse(formula), collapse = " "),
    n = stats::nobs(fit),
    coefficients = lapply(seq_len(nrow(co)), function(i) list(
      term = rownames(co)[[i]], estimate = co[i, 1], stdError = co[i, 2], t = co[i, 3], p = co[i, 4])),
    rSquared = s$r.squared,
    adjustedRSquared = s$adj.r.squared,
    sigma = s$sigma,
    fStatistic = if (is.null(f)) NULL else list(value = f[["value"]], df1 = f[["numdf"]], df2 = f[["dendf"]],
      p = stats::pf(f[["value"]], f[["numdf"]], f[["dendf"]], lower.tail = FALSE)),
    diagnostics = list(href = "diagnostics.png", "content-type" = "image/png")
  )
}
