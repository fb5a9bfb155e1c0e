# Patavi's tutorial service, unchanged in spirit: counts to 100 over `duration` seconds
# (default 3) reporting progress, fails when asked, draws a histogram of the step times, and
# returns its input with a link to the plot.
slow <- function(params) {
  duration <- if (is.null(params$duration)) 3 else params$duration
  silent <- isTRUE(params$silent)
  steps <- numeric(100)
  for (i in 1:100) {
    started <- Sys.time()
    Sys.sleep(duration / 100)
    steps[i] <- as.numeric(Sys.time() - started, units = "secs")
    if (!silent && i %% 25 == 0) cat(sprintf("%d steps done, the last in %.0f ms\n", i, steps[i] * 1000))
    if (!silent) update(list(progress = i, message = sprintf("step %d of 100", i)))
  }
  if (isTRUE(params$fail)) stop("failed because params$fail was TRUE")
  plot <- save.plot(function() hist(steps * 1000, main = "Step durations", xlab = "ms"), "duration", type = "png")
  params$plot <- list(href = plot, "content-type" = "image/png")
  params
}
