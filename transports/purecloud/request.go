package purecloud

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Request parsing: pure functions over the bytes and strings fiber hands
// over, fuzzed in request_fuzz_test.go. Everything they return is a copy.

func badRequest(why string) *bus.Rejection {
	return bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The request is not valid: "+why+".")
}

// maxField bounds the identifiers of a create request (deployment, queue,
// organization).
const maxField = 128

// createRequest is CreateWebChatConversationRequest, the fields cxgate uses.
type createRequest struct {
	OrganizationID string `json:"organizationId"`
	DeploymentID   string `json:"deploymentId"`
	RoutingTarget  *struct {
		TargetType    string   `json:"targetType"`
		TargetAddress string   `json:"targetAddress"`
		Skills        []string `json:"skills"`
		Language      string   `json:"language"`
		Priority      *int     `json:"priority"`
	} `json:"routingTarget"`
	MemberInfo *struct {
		DisplayName    string         `json:"displayName"`
		FirstName      string         `json:"firstName"`
		LastName       string         `json:"lastName"`
		Email          string         `json:"email"`
		PhoneNumber    string         `json:"phoneNumber"`
		AvatarImageURL string         `json:"avatarImageUrl"`
		CustomFields   map[string]any `json:"customFields"`
	} `json:"memberInfo"`
}

// created is a decoded create request: the deployment key and startChat's
// options.
type created struct {
	Deployment  string
	DisplayName string
	Avatar      string
	Options     contract.StartChatOptions
}

// decodeCreate decodes the body of POST /conversations. The widget puts the
// visitor's names, email and subject in memberInfo.customFields; top-level
// GuestMemberInfo fields win where both are given. customFields go on as the
// chat's userData.
func decodeCreate(data []byte) (created, error) {
	var r createRequest
	if err := strictUnmarshal(data, &r); err != nil {
		return created{}, err
	}
	if r.DeploymentID == "" || len(r.DeploymentID) > maxField {
		return created{}, badRequest(`"deploymentId" must name a deployment`)
	}
	if len(r.OrganizationID) > maxField {
		return created{}, badRequest(`"organizationId" is too long`)
	}
	if r.MemberInfo == nil || strings.TrimSpace(r.MemberInfo.DisplayName) == "" {
		return created{}, badRequest(`"memberInfo.displayName" is required`)
	}
	m := r.MemberInfo
	field := func(top, custom string) string {
		if top != "" {
			return top
		}
		s, _ := m.CustomFields[custom].(string)
		return s
	}
	// RouteOnAttach: Genesys Cloud routes a guest chat once its stream is
	// attached (streamAttached), so the agent's join reaches the stream.
	o := contract.StartChatOptions{
		Nickname:      m.DisplayName,
		Firstname:     field(m.FirstName, "firstName"),
		Lastname:      field(m.LastName, "lastName"),
		Email:         field(m.Email, "email"),
		Subject:       field("", "subject"),
		RouteOnAttach: true,
	}
	userData := m.CustomFields
	if m.AvatarImageURL != "" {
		if len(m.AvatarImageURL) > 2048 {
			return created{}, badRequest(`"memberInfo.avatarImageUrl" is too long`)
		}
		if userData == nil {
			userData = map[string]any{}
		}
		userData[avatarKey] = m.AvatarImageURL // returned as the member's avatar (GET .../members)
	}
	if m.PhoneNumber != "" {
		if userData == nil {
			userData = map[string]any{}
		}
		if _, ok := userData["phoneNumber"]; !ok {
			userData["phoneNumber"] = m.PhoneNumber
		}
	}
	if userData != nil {
		ud, err := json.Marshal(userData)
		if err != nil {
			return created{}, badRequest("the body must be a JSON object").Wrap(err)
		}
		o.UserData = ud
	}
	if rt := r.RoutingTarget; rt != nil {
		if rt.TargetType != "" && rt.TargetType != "QUEUE" {
			return created{}, badRequest(`"routingTarget.targetType" must be "QUEUE"`)
		}
		if len(rt.TargetAddress) > maxField {
			return created{}, badRequest(`"routingTarget.targetAddress" is too long`)
		}
		o.Routing = &contract.RoutingOptions{TargetAddress: rt.TargetAddress, Skills: rt.Skills, Language: rt.Language, Priority: rt.Priority}
	}
	return created{Deployment: r.DeploymentID, DisplayName: m.DisplayName, Avatar: m.AvatarImageURL, Options: o}, nil
}

// decodeSend decodes the body of POST .../members/{memberId}/messages:
// {"body": text, "bodyType": "standard"}. A guest sends standard messages
// only.
func decodeSend(data []byte) (string, error) {
	var r struct {
		Body     *string `json:"body"`
		BodyType string  `json:"bodyType"`
	}
	if err := strictUnmarshal(data, &r); err != nil {
		return "", err
	}
	if r.Body == nil {
		return "", badRequest(`"body" must be a string`)
	}
	if r.BodyType != "" && r.BodyType != "standard" {
		return "", badRequest(`"bodyType" must be "standard"`)
	}
	return *r.Body, nil
}

// decodeMediaPatch decodes the body of PATCH .../mediarequests/{id}: a
// WebChatGuestMediaRequest of which only state counts.
func decodeMediaPatch(data []byte) (string, error) {
	var r struct {
		ID              string   `json:"id"`
		Name            string   `json:"name"`
		Types           []string `json:"types"`
		State           string   `json:"state"`
		CommunicationID string   `json:"communicationId"`
		SecurityKey     string   `json:"securityKey"`
		SelfURI         string   `json:"selfUri"`
	}
	if err := strictUnmarshal(data, &r); err != nil {
		return "", err
	}
	switch r.State {
	case "ACCEPTED", "DECLINED", "ERRORED":
		return r.State, nil
	}
	return "", badRequest(`"state" must be "ACCEPTED", "DECLINED" or "ERRORED"`)
}

// strictUnmarshal decodes a JSON object of valid UTF-8 into v.
func strictUnmarshal(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return badRequest("the body must be a JSON object")
	}
	if !utf8.Valid(data) {
		return badRequest("the body must be UTF-8")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("the body is not JSON of the documented shape").Wrap(err)
	}
	return nil
}

// pageQuery is the query of GET .../messages.
type pageQuery struct {
	After, Before uint64 // message ids; 0 for none
	Descending    bool
	Max           int
}

const maxPage = 100

// parsePageQuery reads after, before, sortOrder and maxResults.
func parsePageQuery(after, before, sortOrder, maxResults string) (pageQuery, error) {
	q := pageQuery{Max: maxPage}
	var err error
	if after != "" {
		if q.After, err = strconv.ParseUint(after, 10, 64); err != nil || q.After == 0 {
			return q, badRequest(`"after" must be a message id`)
		}
	}
	if before != "" {
		if q.Before, err = strconv.ParseUint(before, 10, 64); err != nil || q.Before == 0 {
			return q, badRequest(`"before" must be a message id`)
		}
	}
	switch strings.ToLower(sortOrder) {
	case "", "ascending":
	case "descending":
		q.Descending = true
	default:
		return q, badRequest(`"sortOrder" must be "ascending" or "descending"`)
	}
	if maxResults != "" {
		n, err := strconv.Atoi(maxResults)
		if err != nil || n < 1 {
			return q, badRequest(`"maxResults" must be a number from 1 to 100`)
		}
		q.Max = min(n, maxPage)
	}
	return q, nil
}

// encode is the query string of q, for the page links.
func (q pageQuery) encode() string {
	var b strings.Builder
	b.WriteString("?maxResults=")
	b.WriteString(strconv.Itoa(q.Max))
	if q.Descending {
		b.WriteString("&sortOrder=descending")
	} else {
		b.WriteString("&sortOrder=ascending")
	}
	if q.After > 0 {
		b.WriteString("&after=")
		b.WriteString(strconv.FormatUint(q.After, 10))
	}
	if q.Before > 0 {
		b.WriteString("&before=")
		b.WriteString(strconv.FormatUint(q.Before, 10))
	}
	return b.String()
}

// page selects one page of ids, given in ascending order: those between
// after and before, the oldest Max of them ascending, or the newest Max
// descending. next continues in the page's order (newer for ascending, older
// for descending), previous goes the other way; each is nil when there is
// nothing there.
func page(ids []uint64, q pageQuery) (sel []uint64, next, previous *pageQuery) {
	lo, hi := 0, len(ids)
	for lo < hi && q.After > 0 && ids[lo] <= q.After {
		lo++
	}
	for hi > lo && q.Before > 0 && ids[hi-1] >= q.Before {
		hi--
	}
	in := ids[lo:hi]
	if len(in) == 0 {
		return nil, nil, nil
	}
	if !q.Descending {
		sel = in[:min(q.Max, len(in))]
		first, last := sel[0], sel[len(sel)-1]
		if len(sel) < len(in) {
			n := q
			n.After = last
			next = &n
		}
		if lo > 0 || first != ids[0] {
			p := pageQuery{Before: first, Descending: true, Max: q.Max}
			previous = &p
		}
		return append([]uint64(nil), sel...), next, previous
	}
	part := in[max(0, len(in)-q.Max):]
	sel = make([]uint64, len(part))
	for i, id := range part {
		sel[len(part)-1-i] = id
	}
	newest, oldest := sel[0], sel[len(sel)-1]
	if len(part) < len(in) {
		n := q
		n.Before = oldest
		next = &n
	}
	if newest != ids[len(ids)-1] {
		p := pageQuery{After: newest, Max: q.Max}
		previous = &p
	}
	return sel, next, previous
}
