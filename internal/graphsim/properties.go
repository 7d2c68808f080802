package graphsim

// KnownProperty reports whether Graph's published metadata gives the
// resource of collection ("users", "groups") the property prop in api
// ("v1.0", "beta"): what a $select may name.
func KnownProperty(api, collection, prop string) bool {
	return prop == "id" || knownProp(kind(collection), api, prop)
}
