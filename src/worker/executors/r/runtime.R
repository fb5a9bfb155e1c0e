# Errand's R runtime: one warm R process that sources a service script once and then runs its
# tasks one after another, each from the same clean state (see docs/services.md, "R").
#
# Started as: Rscript --vanilla runtime.R <script> <function>
# Node -> R, on stdin, two lines per task: {"base": "<process folder>", "id": "<task id>"} then the
# input JSON; the task runs in <base>/<id>.
# R -> Node, on fd 3 (a pipe), one JSON object per line:
#   {"type":"ready","pid":n}                      the script is loaded
#   {"type":"load_failed","field":f,"message":m}  it is not; the process exits
#   {"type":"progress","data":x}                  update(x)
#   {"type":"result","index_json":"<the index as JSON text>","files":[{name,file,mime}],"cacheable":b,"console_bytes":n,"console":text?}
#   {"type":"error","code":c,"message":m,"call":c,"traceback":[...],"console_bytes":n,"console":text?}
# Printed output and messages of a task go to <task folder>/console.txt (sent inline when small).

suppressPackageStartupMessages(library(jsonlite))

.errand <- new.env()
local({
  args <- commandArgs(trailingOnly = TRUE)
  .errand$script <- args[[1]]
  .errand$fn <- args[[2]]
  .errand$inline_console <- 32768
  .errand$out <- file("/dev/fd/3", open = "wb", raw = TRUE)
  .errand$input <- file("stdin")
  open(.errand$input, blocking = TRUE)
}, envir = .errand)

.errand$json <- function(x) {
  toJSON(x, auto_unbox = TRUE, null = "null", na = "null", digits = NA, force = TRUE)
}

.errand$send_json <- function(text) {
  writeLines(text, .errand$out, useBytes = TRUE)
  flush(.errand$out)
}

.errand$send <- function(x) .errand$send_json(enc2utf8(.errand$json(x)))

.errand$call_text <- function(call) {
  if (is.null(call)) return(NULL)
  text <- paste(deparse(call, nlines = 3L, width.cutoff = 200L), collapse = " ")
  substr(text, 1L, 500L)
}

# Patavi's progress call: `update(x)` sends x as the progress event's data.
# Each report also flushes what the task printed so far, which the worker passes on as it grows
# (R holds a file's output in a buffer until then).
update <- function(x) {
  if (!is.null(.errand$console)) flush(.errand$console)
  invisible(.errand$send(list(type = "progress", data = x)))
}

# Marks this task's result as one the result cache must never serve (it depends on more than the input).
no.cache <- function() invisible(.errand$cacheable <- FALSE)

# Patavi's plot helper: renders plot.fn() to <name>.<type> and adds it to the result's files.
save.plot <- function(plot.fn, name, type = "png") {
  type <- match.arg(type, c("png", "jpeg", "svg"))
  file <- file.path(getwd(), paste0(name, ".", type))
  mime <- c(png = "image/png", jpeg = "image/jpeg", svg = "image/svg+xml")[[type]]
  switch(type,
    png = grDevices::png(file, type = "cairo"),
    jpeg = grDevices::jpeg(file, type = "cairo"),
    svg = grDevices::svg(file))
  tryCatch(plot.fn(), finally = grDevices::dev.off())
  files[[length(files) + 1L]] <<- list(name = basename(file), file = file, mime = mime)
  invisible(basename(file))
}

local({
  loaded <- tryCatch({
    sys.source(.errand$script, envir = globalenv(), keep.source = FALSE)
    TRUE
  }, error = function(e) {
    call <- .errand$call_text(conditionCall(e))
    .errand$send(list(type = "load_failed", field = "entry",
      message = paste0(if (!is.null(call)) paste0("Error in ", call, ": ") else "", conditionMessage(e))))
    FALSE
  })
  if (!loaded) quit(save = "no", status = 1L)
  if (!exists(.errand$fn, envir = globalenv(), mode = "function")) {
    .errand$send(list(type = "load_failed", field = "function",
      message = paste0("the script defines no function named ", .errand$fn)))
    quit(save = "no", status = 1L)
  }
}, envir = .errand)

# The state every task starts from: the globals, options and folder as loading left them.
.errand$globals <- mget(ls(globalenv(), all.names = TRUE), envir = globalenv())
.errand$options <- options()
.errand$wd <- getwd()

.errand$reset <- function() {
  grDevices::graphics.off()
  while (sink.number() > 0L) sink()
  if (sink.number(type = "message") != 2L) sink(type = "message")
  g <- globalenv()
  rm(list = setdiff(ls(g, all.names = TRUE), names(.errand$globals)), envir = g)
  for (name in names(.errand$globals)) {
    value <- .errand$globals[[name]]
    # identical() compares pointers first, so untouched (copy-on-write) globals cost nothing.
    if (!exists(name, envir = g, inherits = FALSE) || !identical(get(name, envir = g, inherits = FALSE), value)) {
      assign(name, value, envir = g)
    }
  }
  added <- setdiff(names(options()), names(.errand$options))
  options(.errand$options)
  if (length(added) > 0L) options(stats::setNames(rep(list(NULL), length(added)), added))
  setwd(.errand$wd)
}

# The calls between the service function and the failing one, without the runtime's own frames.
.errand$traceback <- function(calls) {
  texts <- vapply(calls, function(call) {
    text <- .errand$call_text(call)
    if (is.null(text)) "" else text
  }, "")
  start <- match(paste0(.errand$fn, "(params)"), texts)
  if (!is.na(start)) texts <- texts[-seq_len(start)]
  handler <- grep("^(\\.handleSimpleError|h\\(simpleError|stop\\()", texts)
  if (length(handler) > 0L) texts <- texts[seq_len(handler[[1]] - 1L)]
  utils::head(texts, 30L)
}

# Each task gets a fresh folder under the process's own; the previous task's goes once Node has
# read its files (that is, when the next task starts).
.errand$previous <- NULL
.errand$run <- function(base, id, input_text) {
  if (!is.null(.errand$previous)) unlink(.errand$previous, recursive = TRUE)
  dir <- file.path(base, id)
  dir.create(dir)
  .errand$previous <- dir
  console_path <- file.path(dir, "console.txt")
  console <- file(console_path, open = "wt")
  .errand$console <- console
  sink(console)
  sink(console, type = "message")
  setwd(dir)
  assign("files", list(), envir = globalenv())
  .errand$cacheable <- TRUE
  # Each task draws fresh random numbers, as a newly forked Rserve session would.
  if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) rm(".Random.seed", envir = globalenv())
  calls <- NULL
  outcome <- tryCatch({
    # Called as `<function>(params)` so that R's errors name the service's own call.
    frame <- new.env(parent = globalenv())
    frame$params <- fromJSON(input_text, simplifyVector = TRUE, simplifyDataFrame = FALSE, simplifyMatrix = FALSE)
    value <- withCallingHandlers(
      eval(as.call(list(as.name(.errand$fn), quote(params))), frame),
      error = function(e) calls <<- sys.calls(),
      warning = function(w) {
        call <- .errand$call_text(conditionCall(w))
        message("Warning", if (!is.null(call)) paste0(" in ", call), ": ", conditionMessage(w))
        invokeRestart("muffleWarning")
      })
    files <- get("files", envir = globalenv())
    list(type = "result", index = value, files = if (is.list(files)) unname(files) else list(), cacheable = .errand$cacheable)
  }, error = function(e) {
    list(type = "error", code = "r_error", message = conditionMessage(e),
      call = .errand$call_text(conditionCall(e)), traceback = .errand$traceback(calls))
  })
  sink(type = "message")
  sink()
  .errand$console <- NULL
  close(console)
  # Small output travels in the reply; a large one stays in the file for Node to read the end of.
  size <- file.size(console_path)
  outcome$console_bytes <- size
  if (size > 0 && size <= .errand$inline_console) outcome$console <- readChar(console_path, size, useBytes = TRUE)
  text <- tryCatch({
    # The index travels as the text jsonlite wrote, which the worker sends on as it is.
    if (identical(outcome$type, "result")) {
      outcome$index_json <- enc2utf8(as.character(.errand$json(outcome$index)))
      outcome$index <- NULL
    }
    enc2utf8(.errand$json(outcome))
  }, error = function(e) {
    enc2utf8(.errand$json(list(type = "error", code = "invalid_result",
      message = paste("the result cannot be written as JSON:", conditionMessage(e)))))
  })
  .errand$send_json(text)
}

.errand$send(list(type = "ready", pid = Sys.getpid()))

repeat {
  lines <- readLines(.errand$input, n = 2L, encoding = "UTF-8")
  if (length(lines) < 2L) break
  header <- fromJSON(lines[[1]])
  .errand$run(header$base, header$id, lines[[2]])
  .errand$reset()
}
