# Does nothing: measures the R runtime and the pipeline around it.
rnoop <- function(params) list()
