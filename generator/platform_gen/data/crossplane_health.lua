-- Argo CD health check for Crossplane claims and composite resources (XRs).
--
-- Argo CD runs this with the live object in the global `obj` and reads the
-- returned table: status (Healthy, Progressing, Degraded, Suspended or Missing)
-- and message. It only reads the conditions Crossplane sets on every claim and
-- XR: Synced (reconciliation) and Ready (the composed resources). Missing is
-- left to Argo CD (the object does not exist) and never returned here.
--
-- Checked in this order; the first match decides:
--
--   annotation crossplane.io/paused: "true"   Suspended    reconciliation paused
--   Synced False, reason ReconcilePaused      Suspended    condition message
--   no status or no conditions yet            Progressing  waiting for Crossplane
--   Synced False (any other reason)           Degraded     condition message
--   metadata.deletionTimestamp set            Progressing  deleting
--   Ready False, a transitional reason        Progressing  condition message
--     (Creating, Waiting, Deleting, ReconcilePaused, or no reason)
--   Ready False, any other reason             Degraded     condition message
--     (Unavailable, ReconcileError, ...)
--   Ready True and Synced True                Healthy      condition message
--   anything else (a condition missing or     Progressing  what is awaited
--     Unknown, Ready True with Synced not
--     yet True)
--
-- A message is "<reason>: <message>" from the deciding condition, or whichever
-- of the two it has. Written for Lua 5.1 (Argo CD's interpreter); no library
-- functions beyond the base ones.

local TRANSITIONAL = {
  [""] = true,
  Creating = true,
  Waiting = true,
  Deleting = true,
  ReconcilePaused = true,
}

local function result(status, message)
  return { status = status, message = message }
end

local function describe(condition, fallback)
  local reason = condition.reason or ""
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= "" then
    return message
  end
  if reason ~= "" then
    return reason
  end
  return fallback
end

local function find_condition(conditions, kind)
  for _, condition in ipairs(conditions) do
    if condition.type == kind then
      return condition
    end
  end
  return nil
end

local function health(o)
  local metadata = o.metadata or {}
  local annotations = metadata.annotations or {}
  if annotations["crossplane.io/paused"] == "true" then
    return result("Suspended", "Reconciliation is paused (annotation crossplane.io/paused)")
  end

  local conditions = (o.status or {}).conditions
  if conditions == nil or conditions[1] == nil then
    return result("Progressing", "Waiting for Crossplane to reconcile the resource")
  end
  local synced = find_condition(conditions, "Synced")
  local ready = find_condition(conditions, "Ready")

  if synced ~= nil and synced.status == "False" then
    if synced.reason == "ReconcilePaused" then
      return result("Suspended", describe(synced, "Reconciliation is paused"))
    end
    return result("Degraded", describe(synced, "Reconciliation failed"))
  end

  if metadata.deletionTimestamp ~= nil then
    return result("Progressing", "Deleting")
  end

  if ready ~= nil and ready.status == "False" then
    if TRANSITIONAL[ready.reason or ""] then
      return result("Progressing", describe(ready, "Not ready yet"))
    end
    return result("Degraded", describe(ready, "Not ready"))
  end

  if ready ~= nil and ready.status == "True" then
    if synced ~= nil and synced.status == "True" then
      return result("Healthy", describe(ready, "Available"))
    end
    return result("Progressing", "Ready, waiting for the Synced condition")
  end

  if ready ~= nil then
    return result("Progressing", describe(ready, "Readiness unknown"))
  end
  return result("Progressing", "Waiting for the Ready condition")
end

local hs = health(obj)
return hs
