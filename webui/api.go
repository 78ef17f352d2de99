package webui

// apiRoutes registers the JSON API under /api (owned by the API work).
func (s *Server) apiRoutes() {}
