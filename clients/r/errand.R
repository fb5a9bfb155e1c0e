# Errand's client for R: submit a task, wait for it with its progress in the console, read its
# result. Needs jsonlite and curl (Debian: r-cran-jsonlite r-cran-curl; CRAN: the same names).
#
#   source("clients/r/errand.R")
#   task <- errand_submit("regression", list(formula = "y ~ x", data = list(x = 1:10, y = rnorm(10))))
#   task <- errand_wait(task)              # a progress bar and the script's messages
#   fit <- errand_results(task)            # the result, as R values
#   errand_file(task, "diagnostics.png", "diagnostics.png")
#
# Errors Errand answers are R conditions of class "errand_error" carrying the HTTP status, Errand's
# error code and the field it names: tryCatch(..., errand_error = function(e) e$code).

errand_client <- function(url = Sys.getenv("ERRAND_URL", "http://127.0.0.1:3000"), key = Sys.getenv("ERRAND_KEY", "")) {
  url <- sub("/+$", "", url)
  if (!grepl("^https?://", url)) stop("url must start with http:// or https://, got ", url)
  structure(list(url = url, key = if (nzchar(key)) key else NULL), class = "errand_client")
}

.errand_handle <- function(client, headers = list()) {
  h <- curl::new_handle()
  all <- c(list(accept = "application/json", "x-client-name" = "errand-r"), headers)
  if (!is.null(client$key)) all$authorization <- paste("Bearer", client$key)
  do.call(curl::handle_setheaders, c(list(h), all))
  h
}

.errand_condition <- function(status, code, message, field = NULL) {
  structure(
    class = c("errand_error", "error", "condition"),
    list(message = paste0(code, ": ", message, if (!is.null(field)) paste0(" (field ", field, ")") else ""),
         call = NULL, status = status, code = code, field = field)
  )
}

# Turns an error answer into an errand_error with Errand's code, whatever its body.
.errand_check <- function(response) {
  if (response$status_code < 400) return(invisible(response))
  text <- rawToChar(response$content)
  body <- tryCatch(jsonlite::fromJSON(text, simplifyVector = FALSE), error = function(e) NULL)
  if (is.list(body) && is.list(body$error) && is.character(body$error$code)) {
    stop(.errand_condition(response$status_code, body$error$code, body$error$message, body$error$field))
  }
  stop(.errand_condition(response$status_code, paste0("http_", response$status_code), substr(text, 1, 200)))
}

.errand_request <- function(client, method, path, body = NULL, query = NULL) {
  h <- .errand_handle(client)
  curl::handle_setopt(h, customrequest = method)
  if (!is.null(body)) {
    curl::handle_setopt(h, postfields = body)
    curl::handle_setheaders(h, "content-type" = "application/json")
  }
  url <- paste0(client$url, path)
  if (length(query) > 0) {
    url <- paste0(url, "?", paste(paste0(names(query), "=", vapply(query, curl::curl_escape, "")), collapse = "&"))
  }
  response <- tryCatch(curl::curl_fetch_memory(url, handle = h), error = function(e) {
    stop(.errand_condition(0L, "connection_failed", paste(method, url, "failed:", conditionMessage(e))))
  })
  .errand_check(response)
}

.errand_json <- function(response, simplify = FALSE) {
  jsonlite::fromJSON(rawToChar(response$content), simplifyVector = simplify)
}

.errand_id <- function(task) {
  id <- if (is.list(task)) task$id else task
  if (!is.character(id) || length(id) != 1 || !grepl("^[0-9a-f]{16}$", id)) stop("a task id is 16 lower-case hex digits")
  id
}

#' Submits a task. `input` is any R value jsonlite can write (lists become objects, length-one
#' vectors scalars; use I() to keep a length-one vector an array), or a JSON string given with
#' json = TRUE. Returns the task's description (a list with id, status and _links).
errand_submit <- function(service, input = list(), client = errand_client(), ttl = NULL, json = FALSE) {
  body <- if (json) input else as.character(jsonlite::toJSON(input, auto_unbox = TRUE, digits = NA, null = "null", na = "null"))
  if (identical(body, "[]")) body <- "{}"
  query <- c(list(service = service), if (!is.null(ttl)) list(ttl = ttl))
  .errand_json(.errand_request(client, "POST", "/task", body = body, query = query))
}

#' The task's description now.
errand_task <- function(task, client = errand_client()) {
  .errand_json(.errand_request(client, "GET", paste0("/task/", .errand_id(task))))
}

.terminal_types <- c("done", "failed", "canceled", "expired")

#' Waits for the task to end, following its event stream: a progress bar in the console and the
#' script's messages (progress values with a `message`). A dropped connection is resumed from the
#' last event seen. Returns the ended task's description; `quiet = TRUE` shows nothing.
errand_wait <- function(task, client = errand_client(), quiet = FALSE) {
  id <- .errand_id(task)
  bar <- NULL
  last_id <- NULL
  last_message <- NULL
  ended <- FALSE
  on.exit(if (!is.null(bar)) close(bar), add = TRUE)
  attempts <- 0
  while (!ended) {
    h <- .errand_handle(client, c(list(accept = "text/event-stream"), if (!is.null(last_id)) list("last-event-id" = as.character(last_id))))
    con <- curl::curl(paste0(client$url, "/task/", id, "/events"), handle = h)
    opened <- tryCatch({ open(con, "rb"); TRUE }, error = function(e) e)
    if (!isTRUE(opened)) {
      try(close(con), silent = TRUE)
      # A refusal (404, 401) is final; anything else is retried a few times.
      status <- tryCatch(curl::handle_data(h)$status_code, error = function(e) 0L)
      if (status >= 400 && status < 500) .errand_check(curl::curl_fetch_memory(paste0(client$url, "/task/", id, "/events"), handle = .errand_handle(client)))
      attempts <- attempts + 1
      if (attempts > 30) stop(.errand_condition(0L, "connection_failed", conditionMessage(opened)))
      Sys.sleep(min(5, 0.25 * 2^attempts))
      next
    }
    status <- curl::handle_data(h)$status_code
    if (status == 204) { close(con); break }
    if (status >= 400) { close(con); .errand_check(curl::curl_fetch_memory(paste0(client$url, "/task/", id, "/events"), handle = .errand_handle(client))) }
    event_id <- NULL
    data <- NULL
    repeat {
      line <- tryCatch(readLines(con, n = 1, warn = FALSE), error = function(e) character(0))
      if (length(line) == 0) break # the stream ended or dropped: reconnect from last_id
      if (startsWith(line, "id: ")) event_id <- as.numeric(substring(line, 5))
      else if (startsWith(line, "data: ")) data <- substring(line, 7)
      else if (line == "" && !is.null(data)) {
        event <- jsonlite::fromJSON(data, simplifyVector = FALSE)
        data <- NULL
        if (!is.null(event$id) && (is.null(last_id) || event$id > last_id)) {
          last_id <- event$id
          attempts <- 0
          if (!quiet && identical(event$type, "progress")) {
            if (is.numeric(event$data$percent)) {
              if (is.null(bar)) bar <- utils::txtProgressBar(min = 0, max = 100, style = 3)
              utils::setTxtProgressBar(bar, event$data$percent)
            }
            msg <- event$data$value$message
            if (is.character(msg) && !identical(msg, last_message)) {
              last_message <- msg
              # The script chose it: no control characters reach the console.
              message("\n", gsub("[[:cntrl:]]", " ", msg))
            }
          }
          if (event$type %in% .terminal_types) { ended <- TRUE; break }
        }
      }
    }
    close(con)
    if (!ended) Sys.sleep(0.25)
  }
  result <- errand_task(id, client)
  if (!quiet) {
    if (!is.null(bar)) { if (identical(result$status, "done")) utils::setTxtProgressBar(bar, 100); close(bar); bar <- NULL; cat("\n") }
    if (!identical(result$status, "done")) message("task ", id, " ", result$status, if (!is.null(result$error)) gsub("[[:cntrl:]]", " ", paste0(": ", result$error$code, ": ", result$error$message)) else "")
  }
  result
}

#' The result as R values (simplified by jsonlite: arrays of numbers become vectors, of records
#' data frames); `simplify = FALSE` keeps lists; `text = TRUE` gives the JSON as the script wrote it.
#' A task that failed is an errand_error with its error code.
errand_results <- function(task, client = errand_client(), simplify = TRUE, text = FALSE) {
  id <- .errand_id(task)
  described <- if (is.list(task) && !is.null(task$status)) task else errand_task(id, client)
  if (!described$status %in% .terminal_types) described <- errand_task(id, client)
  if (identical(described$status, "failed") || identical(described$status, "canceled") || identical(described$status, "expired")) {
    error <- described$error
    stop(.errand_condition(200L, if (is.null(error$code)) described$status else error$code, if (is.null(error$message)) paste("task", described$status) else error$message))
  }
  response <- .errand_request(client, "GET", paste0("/task/", id, "/results"))
  if (text) return(rawToChar(response$content))
  .errand_json(response, simplify = simplify)
}

#' Saves one file of a multi-file result (such as a plot) to `dest`; returns `dest`.
errand_file <- function(task, name, dest = name, client = errand_client()) {
  response <- .errand_request(client, "GET", paste0("/task/", .errand_id(task), "/results/", curl::curl_escape(name)))
  writeBin(response$content, dest)
  invisible(dest)
}

#' Cancels a queued or running task; returns its description.
errand_cancel <- function(task, client = errand_client()) {
  .errand_json(.errand_request(client, "POST", paste0("/task/", .errand_id(task), "/cancel")))
}
